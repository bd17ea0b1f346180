"""ocrforge.formats"""
