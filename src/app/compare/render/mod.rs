//! Turning measurements into something people read: the terminal summary (and, later, tables,
//! charts and files).

pub mod chart;
pub mod export;
pub mod html;
pub mod svg;
pub mod table;
