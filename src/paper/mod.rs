//! Paper questionnaires, made from the same definition as the online
//! survey: the same questions, voices, languages and routing, so a paper
//! answer means what an online one means.
//!
//! Pure, like `journey`: `booklet` lays the definition out as numbered
//! questions for one voice and language (`routing` turns `show_if` into
//! "go to" instructions a reader can follow), and `pdf` draws that as a
//! tagged A4 PDF with the bundled OFL font embedded. Reading the database
//! and writing the file are the caller's (`cli::print`, the lead's page).

pub mod booklet;
pub mod double_entry;
pub mod keying;
pub mod letter;
pub mod pdf;
pub mod routing;

pub use booklet::{Block, Booklet, Copy, PrintError, PrintOptions, booklet};
pub use letter::{Letter, Recipient, letter};
