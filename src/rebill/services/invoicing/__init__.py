"""Invoicing: closing a period, finalizing and numbering documents, their PDFs."""
