"""ocrforge.io"""
