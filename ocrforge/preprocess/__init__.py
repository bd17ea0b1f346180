"""ocrforge.preprocess"""
