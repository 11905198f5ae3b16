//! The experiment routes' answers, as status + JSON body, independent of how the service
//! builds responses. Each state change logs one JSON line (`event` plus its parameters).

use std::sync::Arc;

use hyper::StatusCode;

use super::params::{self, FaultMode};
use super::Lab;
use crate::json::Obj;
use crate::log::Level;

/// What a route answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: StatusCode,
    pub body: String,
}

fn ok(status: StatusCode, body: String) -> Answer {
    Answer { status, body }
}

fn invalid(d: &params::Detail) -> Answer {
    ok(StatusCode::UNPROCESSABLE_ENTITY, d.to_json())
}

/// `POST /admin/toggle-live`.
pub fn toggle_live(lab: &Lab) -> Answer {
    let live = lab.toggle_live();
    let word = if live { "alive" } else { "not alive" };
    crate::log_at!(Level::Warning, "lab", format!("Liveness toggled: {word}"),
        "event" => "toggle_live", "live" => live);
    ok(StatusCode::OK, Obj::new().bool("live", live).finish())
}

/// `POST /admin/crash?code=N`: 202, then the process exits with N.
pub fn crash(query: Option<&str>) -> Answer {
    match params::crash_code(query) {
        Ok(code) => {
            crate::log_at!(Level::Error, "lab",
                format!("Crash requested: exiting with code {code} without draining"),
                "event" => "crash", "code" => u64::from(code));
            Lab::crash(code);
            ok(
                StatusCode::ACCEPTED,
                Obj::new().u64("exiting", u64::from(code)).finish(),
            )
        }
        Err(d) => invalid(&d),
    }
}

/// `GET /admin/fault`.
pub fn fault_state(lab: &Lab) -> Answer {
    ok(StatusCode::OK, fault_json(lab))
}

fn fault_json(lab: &Lab) -> String {
    let s = &lab.settings;
    let [(_, errors), (_, delays)] = lab.injected();
    let mut o = Obj::new()
        .str("mode", lab.fault_mode().as_str())
        .raw("error_rate", &s.error_rate.to_string());
    o = match s.delay {
        Some(d) => o.raw(
            "delay_seconds",
            &format!("[{},{}]", d.lo.as_secs_f64(), d.hi.as_secs_f64()),
        ),
        None => o.raw("delay_seconds", "null"),
    };
    let injected = Obj::new()
        .u64("error", errors)
        .u64("delay", delays)
        .finish();
    o.raw("injected", &injected).finish()
}

/// `POST /admin/fault?mode=off|error`.
pub fn set_fault(lab: &Lab, query: Option<&str>) -> Answer {
    match params::fault_mode(query) {
        Ok(mode) => {
            lab.set_fault_mode(mode);
            let msg = match mode {
                FaultMode::Error => "Fault injection on: application routes answer 500",
                FaultMode::Off => "Fault injection off",
            };
            crate::log_at!(Level::Warning, "lab", msg, "event" => "fault_mode", "mode" => mode.as_str());
            ok(StatusCode::OK, fault_json(lab))
        }
        Err(d) => invalid(&d),
    }
}

/// `POST /admin/stress/cpu?seconds=S&threads=T`: 202 at once, 409 while a run is going.
pub fn stress_cpu(lab: &Lab, query: Option<&str>) -> Answer {
    let (duration, threads) = match params::cpu(query) {
        Ok(p) => p,
        Err(d) => return invalid(&d),
    };
    let seconds = duration.as_secs();
    match lab.cpu.start(duration, threads) {
        Ok(()) => {
            crate::log_at!(Level::Warning, "lab",
                format!("CPU stress: {threads} thread(s) for {seconds}s"),
                "event" => "stress_cpu", "seconds" => seconds, "threads" => threads);
            ok(
                StatusCode::ACCEPTED,
                Obj::new()
                    .u64("seconds", seconds)
                    .u64("threads", threads as u64)
                    .finish(),
            )
        }
        Err(super::stress::CpuRefused::Busy(n)) => ok(
            StatusCode::CONFLICT,
            Obj::new()
                .str("detail", "a CPU stress run is still going")
                .u64("threads", n as u64)
                .finish(),
        ),
        Err(super::stress::CpuRefused::Spawn(e)) => ok(
            StatusCode::SERVICE_UNAVAILABLE,
            Obj::new()
                .str("detail", &format!("could not start a thread: {e}"))
                .finish(),
        ),
    }
}

/// `POST /admin/stress/memory?mib=M`: allocates (off the async workers), then 202 with the
/// total held.
pub async fn stress_memory(lab: &Lab, query: Option<&str>) -> Answer {
    let cap = lab.settings.stress_max_mib;
    let mib = match params::memory_mib(query, cap.saturating_sub(lab.memory.held_mib())) {
        Ok(m) => m,
        Err(d) => return invalid(&d),
    };
    if let Err(remaining) = lab.memory.reserve(mib, cap) {
        // Another request took the room between the check and the reservation.
        let d = params::memory_mib(query, remaining).expect_err("over what remains");
        return invalid(&d);
    }
    crate::log_at!(Level::Warning, "lab", format!("Memory stress: allocating {mib} MiB"),
        "event" => "stress_memory", "mib" => mib, "max_mib" => cap);
    let memory = Arc::clone(&lab.memory);
    let held = tokio::task::spawn_blocking(move || memory.fill(mib))
        .await
        .unwrap_or_else(|_| lab.memory.held_mib());
    ok(
        StatusCode::ACCEPTED,
        Obj::new()
            .u64("allocated_mib", mib)
            .u64("held_mib", held)
            .u64("max_mib", cap)
            .finish(),
    )
}

/// `DELETE /admin/stress/memory`.
pub fn release_memory(lab: &Lab) -> Answer {
    let released = lab.memory.release();
    crate::log_at!(Level::Warning, "lab", format!("Memory stress: released {released} MiB"),
        "event" => "stress_memory_release", "mib" => released);
    ok(
        StatusCode::OK,
        Obj::new()
            .u64("released_mib", released)
            .u64("held_mib", lab.memory.held_mib())
            .finish(),
    )
}

/// `GET /status/{code}`: that status with `{"status":code}` (no body for 204 and 304).
pub fn status(segment: &str) -> Answer {
    match params::status_code(segment) {
        Ok(code) => {
            let status = StatusCode::from_u16(code).expect("200-599 is a valid status");
            let body = if matches!(code, 204 | 304) {
                String::new()
            } else {
                Obj::new().u64("status", u64::from(code)).finish()
            };
            ok(status, body)
        }
        Err(d) => invalid(&d),
    }
}

/// The `experiments` object of `/info`.
pub fn info(lab: &Lab) -> String {
    Obj::new()
        .bool("enabled", lab.settings.enabled)
        .bool("live", lab.is_live())
        .str("fault_mode", lab.fault_mode().as_str())
        .raw("fault_error_rate", &lab.settings.error_rate.to_string())
        .u64("cpu_stress_threads", lab.cpu.running() as u64)
        .u64("memory_held_mib", lab.memory.held_mib())
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Settings;

    #[test]
    fn status_route_bodies() {
        assert_eq!(
            status("418"),
            ok(StatusCode::IM_A_TEAPOT, r#"{"status":418}"#.into())
        );
        assert_eq!(status("204").body, "");
        assert_eq!(status("304").body, "");
        assert_eq!(status("600").status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(status("1xx").status, StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn liveness_toggle_answers_the_new_value() {
        let lab = Lab::new(Settings::default());
        assert_eq!(toggle_live(&lab).body, r#"{"live":false}"#);
        assert!(!lab.is_live());
        assert!(info(&lab).contains(r#""live":false"#));
    }

    #[test]
    fn fault_state_shows_mode_settings_and_counts() {
        let lab = Lab::new(Settings {
            error_rate: 0.5,
            delay: crate::config::lab::fault_delay("0.1-0.2").unwrap(),
            ..Settings::default()
        });
        assert_eq!(
            set_fault(&lab, Some("mode=error")).body,
            r#"{"mode":"error","error_rate":0.5,"delay_seconds":[0.1,0.2],"injected":{"error":0,"delay":0}}"#
        );
        lab.fault();
        assert!(fault_state(&lab)
            .body
            .contains(r#""injected":{"error":1,"delay":1}"#));
        assert_eq!(
            set_fault(&lab, Some("mode=x")).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(
            set_fault(&lab, None).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }

    #[tokio::test]
    async fn memory_over_the_cap_is_422_and_release_frees_all() {
        let lab = Lab::new(Settings {
            stress_max_mib: 3,
            ..Settings::default()
        });
        let a = stress_memory(&lab, Some("mib=2")).await;
        assert_eq!(
            a,
            ok(
                StatusCode::ACCEPTED,
                r#"{"allocated_mib":2,"held_mib":2,"max_mib":3}"#.into()
            )
        );
        let a = stress_memory(&lab, Some("mib=2")).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(a.body.contains(r#""ctx":{"le":1}"#), "{}", a.body);
        assert_eq!(
            release_memory(&lab).body,
            r#"{"released_mib":2,"held_mib":0}"#
        );
    }

    #[test]
    fn cpu_stress_is_refused_while_running() {
        let lab = Lab::new(Settings::default());
        assert_eq!(
            stress_cpu(&lab, Some("seconds=1&threads=1")).status,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            stress_cpu(&lab, Some("seconds=1")).status,
            StatusCode::CONFLICT
        );
        assert_eq!(
            stress_cpu(&lab, Some("threads=0")).status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
