//! Discovery over fixture homes.
