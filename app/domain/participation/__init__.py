"""E-participation: verified residents, polls and participatory-budget votes, consultations on
draft decisions, citizens' proposals, and the files of all of them (issue 11)."""
