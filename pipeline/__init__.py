"""stance: sentence-level accusation / denial / neutral stance for news articles."""
