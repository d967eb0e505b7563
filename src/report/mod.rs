//! Turning measurements into something people read: the terminal summary (and, later, tables,
//! charts and files).

pub mod human;
