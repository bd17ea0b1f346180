"""ocrforge.serving"""
