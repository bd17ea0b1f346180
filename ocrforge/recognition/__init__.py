"""ocrforge.recognition"""
