"""paigong command line (a Flask CLI group)."""
