"""One module per page; each has a render() function."""
