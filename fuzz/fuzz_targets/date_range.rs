//! DigiCert's `filters[status_last_updated]=START...END` date-range filter.
#![no_main]

use certkeeper_domain::reports::StatusWindow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(w) = StatusWindow::parse_range(text) {
        assert!(w.from_ms <= w.to_ms, "an accepted window runs forwards: {text:?}");
    }
});
