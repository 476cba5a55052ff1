"""Ratings of answers: what each answer records for later, the export, the admin summary."""
