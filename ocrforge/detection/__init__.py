"""ocrforge.detection"""
