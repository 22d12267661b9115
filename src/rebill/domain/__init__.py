"""The billing domain: pure values and rules, no I/O, standard library only."""
