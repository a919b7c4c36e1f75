//! `mote boards` and `mote sim`: a virtual board. It checks a model against
//! a board's budgets and estimates its latency there ([`budget`],
//! [`reference`]), replays recorded sensor streams and images through the
//! same pipeline code as the firmware (`mote-board`), and injects faults
//! into that pipeline.

pub mod budget;
pub mod reference;

pub use budget::{board, boards_table, check, cpi, family, render, Family, Fit, STACK_ESTIMATE};
