"""ocrforge.extraction"""
