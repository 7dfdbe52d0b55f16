"""One module per pipeline stage; each notebook in notebooks/ calls exactly one of them."""
