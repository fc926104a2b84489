#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| wab24::fuzzing::bbcode(data));
