//! A pod's status as the kubelet reports it: each container's state (waiting with a reason,
//! running, terminated), its last state, restart count and readiness, the pod's phase and its
//! four conditions. Pure; the pod task changes it and writes it when its JSON changes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::{Value, json};

/// Which container: (init container?, index).
pub(super) type Which = (bool, usize);

/// One container's status.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Container {
    pub name: String,
    pub image: String,
    pub image_id: Option<String>,
    pub ready: bool,
    pub restarts: i32,
    pub state: Value,
    pub last_state: Value,
}

impl Container {
    fn new(name: &str, image: &str, reason: &str) -> Self {
        Self {
            name: name.to_owned(),
            image: image.to_owned(),
            image_id: None,
            ready: false,
            restarts: 0,
            state: json!({"waiting": {"reason": reason}}),
            last_state: json!({}),
        }
    }

    fn json(&self) -> Value {
        json!({
            "name": self.name,
            "image": self.image,
            "imageID": self.image_id.clone().unwrap_or_default(),
            "ready": self.ready,
            "restartCount": self.restarts,
            "started": self.state.get("running").is_some(),
            "state": self.state,
            "lastState": self.last_state,
        })
    }

    /// `waiting: REASON: message` (or the running/terminated state) for a summary line.
    fn describe(&self) -> String {
        if let Some(w) = self.state.get("waiting") {
            let reason = w["reason"].as_str().unwrap_or("Waiting");
            match w["message"].as_str() {
                Some(m) if !m.is_empty() => format!("{reason}: {m}"),
                _ => reason.to_owned(),
            }
        } else if let Some(t) = self.state.get("terminated") {
            format!(
                "terminated with exit code {}",
                t["exitCode"].as_i64().unwrap_or_default()
            )
        } else if self.ready {
            "ready".to_owned()
        } else {
            "running, not ready".to_owned()
        }
    }
}

/// The pod's status.
#[derive(Debug, Clone)]
pub(super) struct PodStatus {
    pub init: Vec<Container>,
    pub containers: Vec<Container>,
    pub initialized: bool,
    pub running: bool,
    start_time: String,
    /// Condition type → (status, lastTransitionTime).
    transitions: BTreeMap<&'static str, (bool, String)>,
}

impl PodStatus {
    /// Every container waiting (`ContainerCreating`; `PodInitializing` behind init containers).
    pub fn new(template: &PodTemplateSpec, now: &str) -> Self {
        let spec = template.spec.clone().unwrap_or_default();
        let init: Vec<Container> = spec
            .init_containers
            .iter()
            .flatten()
            .map(|c| {
                Container::new(
                    &c.name,
                    c.image.as_deref().unwrap_or_default(),
                    "ContainerCreating",
                )
            })
            .collect();
        let behind = if init.is_empty() {
            "ContainerCreating"
        } else {
            "PodInitializing"
        };
        let containers = spec
            .containers
            .iter()
            .map(|c| Container::new(&c.name, c.image.as_deref().unwrap_or_default(), behind))
            .collect();
        Self {
            initialized: init.is_empty(),
            init,
            containers,
            running: false,
            start_time: now.to_owned(),
            transitions: BTreeMap::new(),
        }
    }

    pub fn get_mut(&mut self, (init, i): Which) -> Option<&mut Container> {
        if init {
            self.init.get_mut(i)
        } else {
            self.containers.get_mut(i)
        }
    }

    /// Every container not yet started with `image` waits for `reason` (ErrImagePull, …).
    pub fn waiting_for_image(&mut self, image: &str, reason: &str, message: &str) {
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.image == image && c.state.get("waiting").is_some() {
                c.state = waiting(reason, message);
            }
        }
    }

    /// Every waiting container waits for `reason` with `message`.
    pub fn all_waiting(&mut self, reason: &str, message: &str) {
        for c in self.init.iter_mut().chain(self.containers.iter_mut()) {
            if c.state.get("waiting").is_some() {
                c.state = waiting(reason, message);
            }
        }
    }

    pub fn set_waiting(&mut self, which: Which, reason: &str, message: &str) {
        if let Some(c) = self.get_mut(which) {
            c.state = waiting(reason, message);
            c.ready = false;
        }
    }

    pub fn set_running(&mut self, which: Which, started_at: &str) {
        if let Some(c) = self.get_mut(which) {
            c.state = json!({"running": {"startedAt": started_at}});
        }
    }

    /// The container exited: its terminated state (now the last state too, if it restarts).
    pub fn set_terminated(&mut self, which: Which, exit_code: i32, finished_at: &str) {
        if let Some(c) = self.get_mut(which) {
            let started = c.state["running"]["startedAt"].clone();
            let reason = if exit_code == 0 { "Completed" } else { "Error" };
            let t = json!({"terminated": {"exitCode": exit_code, "reason": reason,
                                          "startedAt": started, "finishedAt": finished_at}});
            c.state = t.clone();
            c.last_state = t;
            c.ready = false;
        }
    }

    /// Ready when running and every container is ready.
    pub fn ready(&self) -> bool {
        self.running && !self.containers.is_empty() && self.containers.iter().all(|c| c.ready)
    }

    /// What keeps the pod from being ready, one line (`container etcd: ErrImagePull: …`).
    pub fn summary(&self) -> String {
        if self.ready() {
            return "ready".to_owned();
        }
        let blocking = if self.initialized {
            self.containers.iter().find(|c| !c.ready)
        } else {
            self.init
                .iter()
                .find(|c| c.state.get("terminated").is_none_or(|t| t["exitCode"] != 0))
        };
        blocking.map_or_else(
            || "starting".to_owned(),
            |c| {
                let kind = if self.initialized {
                    "container"
                } else {
                    "init container"
                };
                format!("{kind} {}: {}", c.name, c.describe())
            },
        )
    }

    /// The `status` JSON, condition transition times kept while their status holds.
    pub fn render(&mut self, now: &str) -> Value {
        let ready = self.ready();
        let conds = [
            ("PodScheduled", true),
            ("Initialized", self.initialized),
            ("ContainersReady", ready),
            ("Ready", ready),
        ];
        let mut conditions = Vec::new();
        for (kind, status) in conds {
            let entry = self
                .transitions
                .entry(kind)
                .or_insert_with(|| (status, now.to_owned()));
            if entry.0 != status {
                *entry = (status, now.to_owned());
            }
            conditions.push(
                json!({"type": kind, "status": if status { "True" } else { "False" },
                                   "lastProbeTime": null, "lastTransitionTime": entry.1}),
            );
        }
        let mut status = json!({
            "phase": if self.running { "Running" } else { "Pending" },
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "qosClass": "Burstable",
            "containerStatuses": self.containers.iter().map(Container::json).collect::<Vec<_>>(),
        });
        if !self.init.is_empty() {
            status["initContainerStatuses"] =
                json!(self.init.iter().map(Container::json).collect::<Vec<_>>());
        }
        status
    }
}

fn waiting(reason: &str, message: &str) -> Value {
    if message.is_empty() {
        json!({"waiting": {"reason": reason}})
    } else {
        json!({"waiting": {"reason": reason, "message": message}})
    }
}

/// The `lastTransitionTime` of condition `kind` in `old` status if it already had `status`,
/// else `now`.
pub(super) fn kept_transition(old: &Value, kind: &str, status: &str, now: &str) -> Value {
    old["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == kind && c["status"] == status)
        .and_then(|c| c.get("lastTransitionTime").cloned())
        .unwrap_or_else(|| json!(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> PodTemplateSpec {
        serde_json::from_value(json!({"spec": {
            "initContainers": [{"name": "prepare", "image": "quay.invalid/r@sha256:aa"}],
            "containers": [{"name": "etcd", "image": "quay.invalid/e@sha256:bb"}],
        }}))
        .unwrap()
    }

    #[test]
    fn a_failed_pull_is_the_summary_and_keeps_the_pod_pending() {
        let mut s = PodStatus::new(&template(), "t0");
        s.waiting_for_image("quay.invalid/r@sha256:aa", "ErrImagePull", "manifest unknown");
        assert_eq!(
            s.summary(),
            "init container prepare: ErrImagePull: manifest unknown"
        );
        let j = s.render("t1");
        assert_eq!(j["phase"], "Pending");
        assert_eq!(
            j["initContainerStatuses"][0]["state"]["waiting"]["reason"],
            "ErrImagePull"
        );
        assert_eq!(
            j["containerStatuses"][0]["state"]["waiting"]["reason"],
            "PodInitializing"
        );
    }

    #[test]
    fn ready_when_running_and_transition_times_hold_while_the_status_does() {
        let mut s = PodStatus::new(&template(), "t0");
        s.set_running((true, 0), "t1");
        s.set_terminated((true, 0), 0, "t2");
        s.initialized = true;
        s.set_running((false, 0), "t3");
        s.running = true;
        assert!(!s.ready());
        let first = s.render("t3");
        assert_eq!(first["conditions"][3]["status"], "False");
        if let Some(c) = s.get_mut((false, 0)) {
            c.ready = true;
        }
        let second = s.render("t4");
        assert_eq!(second["conditions"][3]["status"], "True");
        assert_eq!(second["conditions"][3]["lastTransitionTime"], "t4");
        assert_eq!(second["conditions"][0]["lastTransitionTime"], "t3");
        assert_eq!(
            second["initContainerStatuses"][0]["state"]["terminated"]["reason"],
            "Completed"
        );
        assert_eq!(s.summary(), "ready");
    }

    #[test]
    fn an_exit_becomes_the_last_state() {
        let mut s = PodStatus::new(&template(), "t0");
        s.set_running((false, 0), "t1");
        s.set_terminated((false, 0), 2, "t2");
        s.set_waiting(
            (false, 0),
            "CrashLoopBackOff",
            "back-off 2s restarting failed container",
        );
        let c = &s.containers[0];
        assert_eq!(c.last_state["terminated"]["exitCode"], 2);
        assert_eq!(c.last_state["terminated"]["startedAt"], "t1");
        assert_eq!(c.state["waiting"]["reason"], "CrashLoopBackOff");
    }
}
