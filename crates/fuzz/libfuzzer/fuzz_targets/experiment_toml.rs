#![no_main]
//! libFuzzer entry for the `wb-fuzz` target `wb_fuzz::targets::experiment::EXPERIMENT`.

#[global_allocator]
static ALLOC: wb_fuzz::CountingAlloc = wb_fuzz::CountingAlloc;

libfuzzer_sys::fuzz_target!(|entropy: &[u8]| {
    wb_fuzz::fuzz_one(&wb_fuzz::targets::experiment::EXPERIMENT, entropy);
});
