"""Public shops' data converted to the data contract's files, to run Portrait on real orders."""
