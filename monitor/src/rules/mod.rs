//! Falco-style detection rules: parse, compile, evaluate.
pub mod cli;
