"""The book's reading side: statistics, tables, claims, figures and each page's glue."""
