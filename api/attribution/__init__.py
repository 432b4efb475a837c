"""Marketing attribution: every model's credit per channel or campaign, and campaign holdouts."""
