//! RECORD rows, read, and written back when they are well formed.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(rows) = pyfod_python::record::parse(text)
    {
        let files: Vec<_> = rows
            .iter()
            .filter_map(|r| Some((r.path.clone(), r.hash.as_ref()?.sha256()?, r.size.unwrap_or(0))))
            .collect();
        let written = pyfod_python::record::write(&files, "x-1.dist-info/RECORD");
        let back = pyfod_python::record::parse(&written).expect("what pyfod writes, it reads");
        assert_eq!(back.len(), files.len() + 1);
    }
});
