"""ocrforge.layout"""
