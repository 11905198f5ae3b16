use super::*;
// The experiment variables are parsed in the config; their cases stay beside the parameters'.
use crate::config::lab::{error_rate, fault_delay, ready_delay, stress_max_mib};

fn one(d: Detail) -> Item {
    assert_eq!(d.0.len(), 1, "{d:?}");
    d.0.into_iter().next().unwrap()
}

/// The exact bodies FastAPI (pydantic v2) gives for `code: int = Path(ge=200, le=599)`.
#[test]
fn status_codes_in_fastapi_shape() {
    assert_eq!(status_code("200"), Ok(200));
    assert_eq!(status_code("599"), Ok(599));
    assert_eq!(status_code("%32%30%34"), Ok(204));
    assert_eq!(
        status_code("600").unwrap_err().to_json(),
        r#"{"detail":[{"type":"less_than_equal","loc":["path","code"],"msg":"Input should be less than or equal to 599","input":"600","ctx":{"le":599}}]}"#
    );
    assert_eq!(
        status_code("101").unwrap_err().to_json(),
        r#"{"detail":[{"type":"greater_than_equal","loc":["path","code"],"msg":"Input should be greater than or equal to 200","input":"101","ctx":{"ge":200}}]}"#
    );
    assert_eq!(
        status_code("abc").unwrap_err().to_json(),
        r#"{"detail":[{"type":"int_parsing","loc":["path","code"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}"#
    );
    for bad in [
        "",
        "-200",
        "2.0",
        "1e3",
        " 200",
        "+",
        "99999999999999999999999",
    ] {
        assert!(status_code(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        one(status_code("99999999999999999999999").unwrap_err()).kind,
        "less_than_equal"
    );
    assert_eq!(
        one(status_code("-0").unwrap_err()).kind,
        "greater_than_equal"
    );
}

#[test]
fn crash_codes() {
    assert_eq!(crash_code(None), Ok(1));
    assert_eq!(crash_code(Some("code=125")), Ok(125));
    assert_eq!(crash_code(Some("code=3&code=7")), Ok(7));
    assert_eq!(
        one(crash_code(Some("code=0")).unwrap_err()).kind,
        "greater_than_equal"
    );
    assert_eq!(
        one(crash_code(Some("code=126")).unwrap_err()).kind,
        "less_than_equal"
    );
    assert_eq!(
        one(crash_code(Some("code=x")).unwrap_err()).kind,
        "int_parsing"
    );
}

#[test]
fn fault_modes() {
    assert_eq!(fault_mode(Some("mode=error")), Ok(FaultMode::Error));
    assert_eq!(fault_mode(Some("mode=off")), Ok(FaultMode::Off));
    assert_eq!(
        fault_mode(Some("mode=on")).unwrap_err().to_json(),
        r#"{"detail":[{"type":"literal_error","loc":["query","mode"],"msg":"Input should be 'off' or 'error'","input":"on","ctx":{"expected":"'off' or 'error'"}}]}"#
    );
    assert_eq!(
        fault_mode(None).unwrap_err().to_json(),
        r#"{"detail":[{"type":"missing","loc":["query","mode"],"msg":"Field required","input":null}]}"#
    );
    assert_eq!(
        one(fault_mode(Some("mode=ERROR")).unwrap_err()).kind,
        "literal_error"
    );
}

/// Both bad parameters are reported at once, in parameter order, as FastAPI does.
#[test]
fn cpu_parameters() {
    assert_eq!(cpu(None), Ok((Duration::from_secs(30), 1)));
    assert_eq!(
        cpu(Some("seconds=300&threads=64")),
        Ok((Duration::from_secs(300), 64))
    );
    let d = cpu(Some("threads=65&seconds=0")).unwrap_err();
    let kinds: Vec<_> = d.0.iter().map(|i| (i.loc.1, i.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("seconds", "greater_than_equal"),
            ("threads", "less_than_equal")
        ]
    );
    assert_eq!(
        one(cpu(Some("seconds=301")).unwrap_err()).ctx.as_deref(),
        Some(r#"{"le":300}"#)
    );
}

#[test]
fn memory_parameters_respect_what_the_cap_leaves() {
    assert_eq!(memory_mib(Some("mib=64"), 4096), Ok(64));
    assert_eq!(memory_mib(Some("mib=4096"), 4096), Ok(4096));
    let e = one(memory_mib(Some("mib=100"), 96).unwrap_err());
    assert_eq!(
        (e.kind, e.ctx.as_deref()),
        ("less_than_equal", Some(r#"{"le":96}"#))
    );
    assert!(e.msg.contains("STRESS_MAX_MIB"), "{}", e.msg);
    assert_eq!(
        one(memory_mib(Some("mib=1"), 0).unwrap_err()).kind,
        "less_than_equal"
    );
    assert_eq!(
        one(memory_mib(Some("mib=0"), 10).unwrap_err()).kind,
        "greater_than_equal"
    );
    assert_eq!(one(memory_mib(None, 10).unwrap_err()).kind, "missing");
}

#[test]
fn variable_parsers() {
    assert_eq!(error_rate("0"), Ok(0.0));
    assert_eq!(error_rate("0.25"), Ok(0.25));
    assert_eq!(error_rate("1"), Ok(1.0));
    for bad in ["1.5", "-0.1", "abc", "", "NaN", "inf", "0.1.2"] {
        assert!(error_rate(bad).is_err(), "{bad:?}");
    }
    let r = fault_delay("0.1-0.5").unwrap().unwrap();
    assert_eq!(
        (r.lo, r.hi),
        (Duration::from_millis(100), Duration::from_millis(500))
    );
    assert_eq!(r.at(0.5), Duration::from_millis(300));
    let fixed = fault_delay("2").unwrap().unwrap();
    assert_eq!(
        (fixed.lo, fixed.at(0.99)),
        (Duration::from_secs(2), Duration::from_secs(2))
    );
    assert_eq!(fault_delay("0"), Ok(None));
    for bad in ["0.5-0.1", "61", "1-", "-1", "a-b", "1-2-3", ""] {
        assert!(fault_delay(bad).is_err(), "{bad:?}");
    }
    assert_eq!(ready_delay("2.5"), Ok(Duration::from_millis(2500)));
    assert!(ready_delay("3601").is_err() && ready_delay("-1").is_err());
    assert_eq!(stress_max_mib("4096"), Ok(4096));
    assert!(stress_max_mib("+5").is_err() && stress_max_mib("2000000").is_err());
}
