#![no_std]
// Exists so the crate has a library target that cargo can use as a build dependency.
