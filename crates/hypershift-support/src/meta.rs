//! Metadata of the objects a controller owns: the managed-by label (how orphans are found and
//! owned objects watched), the owner annotation (how an event on an owned object is traced back to
//! the object it belongs to, across namespaces), and the name and namespace. One [`Owner`] per
//! reconciled object, parameterised by the controller's field manager.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The label on every object a controller owns: `app.kubernetes.io/managed-by=<field manager>`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// Who owns the objects being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The field manager of every apply, also the managed-by label's value.
    pub field_manager: &'static str,
    /// The annotation naming the owning object (e.g. `hypershift.openshift.io/cluster`).
    pub annotation: &'static str,
    /// Its value (`<namespace>/<name>` of the owning object).
    pub value: String,
}

impl Owner {
    /// The managed-by label alone.
    pub fn labels(&self) -> BTreeMap<String, String> {
        managed_by(self.field_manager)
    }

    /// The owner annotation alone.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([(self.annotation.to_owned(), self.value.clone())])
    }

    /// Metadata of an owned object `name` (in `namespace`, unless cluster-scoped).
    pub fn meta(&self, name: &str, namespace: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_owned()),
            namespace: namespace.map(str::to_owned),
            labels: Some(self.labels()),
            annotations: Some(self.annotations()),
            ..ObjectMeta::default()
        }
    }

    /// [`Owner::meta`] with `labels` and `annotations` added.
    pub fn meta_with(
        &self,
        name: &str,
        namespace: Option<&str>,
        labels: impl IntoIterator<Item = (String, String)>,
        annotations: impl IntoIterator<Item = (String, String)>,
    ) -> ObjectMeta {
        let mut meta = self.meta(name, namespace);
        meta.labels.get_or_insert_default().extend(labels);
        meta.annotations.get_or_insert_default().extend(annotations);
        meta
    }
}

/// `{managed-by: field_manager}`.
pub fn managed_by(field_manager: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(MANAGED_BY_LABEL.to_owned(), field_manager.to_owned())])
}

/// The label selector matching [`managed_by`].
pub fn managed_by_selector(field_manager: &str) -> String {
    format!("{MANAGED_BY_LABEL}={field_manager}")
}

/// The owning object's `(namespace, name)` from an owned object's annotation `annotation`.
pub fn owner_of(meta: &ObjectMeta, annotation: &str) -> Option<(String, String)> {
    let value = meta.annotations.as_ref()?.get(annotation)?;
    let (ns, name) = value.split_once('/')?;
    Some((ns.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_metadata_carries_the_label_and_the_owner() {
        let owner = Owner {
            field_manager: "some-operator",
            annotation: "example.invalid/owner",
            value: "ns/thing".into(),
        };
        let meta = owner.meta_with("x", Some("cp"), [("a".into(), "b".into())], []);
        assert_eq!(meta.name.as_deref(), Some("x"));
        assert_eq!(meta.namespace.as_deref(), Some("cp"));
        assert_eq!(meta.labels.as_ref().unwrap()[MANAGED_BY_LABEL], "some-operator");
        assert_eq!(meta.labels.as_ref().unwrap()["a"], "b");
        assert_eq!(
            owner_of(&meta, "example.invalid/owner"),
            Some(("ns".into(), "thing".into()))
        );
        assert_eq!(
            managed_by_selector("some-operator"),
            "app.kubernetes.io/managed-by=some-operator"
        );
        assert_eq!(owner.meta("c", None).namespace, None);
    }
}
