"""ocrforge.data"""
