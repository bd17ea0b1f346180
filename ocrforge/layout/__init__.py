"""Reading order: detected lines -> blocks of rows, for documents, two-column pages and receipts."""

from .reading_order import LayoutBlock, LayoutConfig, analyze_layout, reading_order, rows_of, to_box

__all__ = ["LayoutBlock", "LayoutConfig", "analyze_layout", "reading_order", "rows_of", "to_box"]
