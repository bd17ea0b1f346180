"""ocrforge.export"""
