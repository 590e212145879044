//! Exhaustive model checking arrives with the models issue.
