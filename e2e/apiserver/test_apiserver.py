"""The double's own API semantics, exercised over HTTPS like a client would."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from doubletest import Double, wait_for  # noqa: E402

WIDGETS = "/apis/test.usp.dev/v1/namespaces/default/widgets"
CMS = "/api/v1/namespaces/default/configmaps"

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.usp.dev"},
    "spec": {
        "group": "test.usp.dev", "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget",
                  "shortNames": ["wg"], "categories": ["usptest"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
            "additionalPrinterColumns": [
                {"name": "Type", "type": "string", "jsonPath": ".spec.type"},
                {"name": "Ready", "type": "string",
                 "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
                {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}],
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                "spec": {"type": "object", "required": ["type"], "properties": {
                    "type": {"type": "string", "enum": ["simple", "left_join"]},
                    "size": {"type": "integer", "minimum": 1, "default": 3}}},
                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}},
        }],
    },
}


def widget(name, **spec):
    return {"apiVersion": "test.usp.dev/v1", "kind": "Widget",
            "metadata": {"name": name, "labels": {"app": "demo"}},
            "spec": dict({"type": "simple"}, **spec)}


class ApiSemanticsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Double("--bookmark-interval", "0.3")
        code, _ = cls.d.request("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                                CRD)
        assert code == 201, code
        wait_for(lambda: cls.d.request("GET", "/apis/test.usp.dev/v1")[0] == 200,
                 what="CRD registration")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def setUp(self):
        self.d.control({"clear": True})

    def create(self, path, obj):
        code, out = self.d.request("POST", path, obj)
        self.assertEqual(code, 201, out)
        return out

    # --- basics --------------------------------------------------------------

    def test_requests_without_the_token_get_401_status(self):
        code, out = self.d.request("GET", "/api/v1/namespaces", token=None)
        self.assertEqual(code, 401)
        self.assertEqual((out["kind"], out["reason"], out["code"]), ("Status", "Unauthorized", 401))
        self.assertEqual(self.d.request("GET", "/api/v1/namespaces", token="wrong")[0], 401)

    def test_crd_registration_appears_in_discovery(self):
        code, groups = self.d.request("GET", "/apis")
        self.assertIn("test.usp.dev", [g["name"] for g in groups["groups"]])
        code, rl = self.d.request("GET", "/apis/test.usp.dev/v1")
        self.assertEqual(code, 200)
        names = {r["name"]: r for r in rl["resources"]}
        self.assertEqual(names["widgets"]["kind"], "Widget")
        self.assertEqual(names["widgets"]["shortNames"], ["wg"])
        self.assertEqual(names["widgets"]["categories"], ["usptest"])
        self.assertTrue(names["widgets"]["namespaced"])
        self.assertIn("watch", names["widgets"]["verbs"])
        self.assertIn("widgets/status", names)
        _, crd = self.d.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                                       "widgets.test.usp.dev")
        est = [c for c in crd["status"]["conditions"] if c["type"] == "Established"]
        self.assertEqual(est[0]["status"], "True")

    def test_resource_versions_are_increasing_strings(self):
        a = self.create(WIDGETS, widget("rv-a"))
        b = self.create(WIDGETS, widget("rv-b"))
        self.assertIsInstance(a["metadata"]["resourceVersion"], str)
        self.assertGreater(int(b["metadata"]["resourceVersion"]),
                           int(a["metadata"]["resourceVersion"]))
        code, lst = self.d.request("GET", WIDGETS)
        self.assertGreaterEqual(int(lst["metadata"]["resourceVersion"]),
                                int(b["metadata"]["resourceVersion"]))
        self.assertEqual(lst["kind"], "WidgetList")

    def test_create_existing_is_409_already_exists(self):
        self.create(WIDGETS, widget("dup"))
        code, out = self.d.request("POST", WIDGETS, widget("dup"))
        self.assertEqual(code, 409)
        self.assertEqual(out["reason"], "AlreadyExists")
        self.assertEqual(out["details"]["name"], "dup")

    def test_get_missing_is_404_not_found_status(self):
        code, out = self.d.request("GET", WIDGETS + "/nope")
        self.assertEqual((code, out["kind"], out["reason"]), (404, "Status", "NotFound"))
        self.assertEqual(out["message"], 'widgets.test.usp.dev "nope" not found')

    def test_schema_defaults_and_rejects_invalid_specs(self):
        out = self.create(WIDGETS, widget("defaulted"))
        self.assertEqual(out["spec"]["size"], 3)
        code, out = self.d.request("POST", WIDGETS, widget("bad", type="square", size=0))
        self.assertEqual(code, 422)
        self.assertEqual(out["reason"], "Invalid")
        fields = sorted(c["field"] for c in out["details"]["causes"])
        self.assertEqual(fields, ["spec.size", "spec.type"])
        code, out = self.d.request("POST", WIDGETS + "?fieldValidation=Strict",
                                   widget("unknown", colour="red"))
        self.assertEqual(code, 400)
        self.assertIn('unknown field "spec.colour"', out["message"])

    def test_dry_run_validates_without_persisting(self):
        code, out = self.d.request("POST", WIDGETS + "?dryRun=All", widget("dry"))
        self.assertEqual(code, 201)
        self.assertEqual(self.d.request("GET", WIDGETS + "/dry")[0], 404)
        code, _ = self.d.request("POST", WIDGETS + "?dryRun=All", widget("dry", type="x"))
        self.assertEqual(code, 422)

    # --- updates -----------------------------------------------------------

    def test_stale_put_is_409_conflict(self):
        w = self.create(WIDGETS, widget("stale"))
        w["spec"]["size"] = 5
        code, w2 = self.d.request("PUT", WIDGETS + "/stale", w)
        self.assertEqual(code, 200)
        self.assertEqual(w2["metadata"]["generation"], 2)
        w["spec"]["size"] = 6  # still carries the old resourceVersion
        code, out = self.d.request("PUT", WIDGETS + "/stale", w)
        self.assertEqual(code, 409)
        self.assertEqual(out["reason"], "Conflict")
        self.assertIn("the object has been modified", out["message"])

    def test_stale_status_put_is_409_conflict(self):
        w = self.create(WIDGETS, widget("stale-status"))
        w["status"] = {"phase": "one"}
        code, w2 = self.d.request("PUT", WIDGETS + "/stale-status/status", w)
        self.assertEqual(code, 200)
        w["status"] = {"phase": "two"}
        code, out = self.d.request("PUT", WIDGETS + "/stale-status/status", w)
        self.assertEqual((code, out["reason"]), (409, "Conflict"))

    def test_status_subresource_isolation_and_generation(self):
        w = self.create(WIDGETS, widget("iso"))
        w["status"] = {"phase": "Sneaky"}
        code, w2 = self.d.request("PUT", WIDGETS + "/iso", w)
        self.assertEqual(code, 200)
        self.assertNotIn("status", w2)  # status via the main resource is ignored
        w2["status"] = {"phase": "Ready"}
        w2["spec"]["size"] = 42
        code, w3 = self.d.request("PUT", WIDGETS + "/iso/status", w2)
        self.assertEqual(code, 200)
        self.assertEqual(w3["status"], {"phase": "Ready"})
        self.assertEqual(w3["spec"]["size"], 3)  # spec via /status is ignored
        self.assertEqual(w3["metadata"]["generation"], 1)  # status writes keep generation
        code, w4 = self.d.request("PATCH", WIDGETS + "/iso",
                                  {"spec": {"size": 7}}, ctype="application/merge-patch+json")
        self.assertEqual((code, w4["metadata"]["generation"], w4["status"]["phase"]),
                         (200, 2, "Ready"))

    def test_noop_update_keeps_resource_version(self):
        w = self.create(WIDGETS, widget("noop"))
        code, w2 = self.d.request("PUT", WIDGETS + "/noop", w)
        self.assertEqual(w2["metadata"]["resourceVersion"], w["metadata"]["resourceVersion"])

    def test_patch_flavours(self):
        self.create(WIDGETS, widget("patchy", size=2))
        code, out = self.d.request("PATCH", WIDGETS + "/patchy",
                                   [{"op": "replace", "path": "/spec/size", "value": 9},
                                    {"op": "add", "path": "/metadata/labels/x", "value": "y"}],
                                   ctype="application/json-patch+json")
        self.assertEqual((code, out["spec"]["size"], out["metadata"]["labels"]["x"]), (200, 9, "y"))
        code, out = self.d.request("PATCH", WIDGETS + "/patchy",
                                   {"metadata": {"labels": {"x": None}}},
                                   ctype="application/merge-patch+json")
        self.assertNotIn("x", out["metadata"]["labels"])
        code, out = self.d.request("PATCH", WIDGETS + "/patchy", {"spec": {"size": 1}},
                                   ctype="application/strategic-merge-patch+json")
        self.assertEqual(code, 415)  # as the real server: no strategic merge for CRs
        code, out = self.d.request("PATCH", WIDGETS + "/patchy",
                                   {"metadata": {"resourceVersion": "1"}, "spec": {"size": 4}},
                                   ctype="application/merge-patch+json")
        self.assertEqual(code, 409)  # a resourceVersion in a patch is a precondition

    def test_strategic_merge_patch_merges_containers_by_name(self):
        dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "smp"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                            {"name": "one", "image": "i1", "command": ["sleep", "60"]},
                            {"name": "two", "image": "i2", "command": ["sleep", "60"]}]}}}}
        self.create("/apis/apps/v1/namespaces/default/deployments", dep)
        code, out = self.d.request(
            "PATCH", "/apis/apps/v1/namespaces/default/deployments/smp",
            {"spec": {"template": {"spec": {"containers": [{"name": "two", "image": "i2b"}]}}}},
            ctype="application/strategic-merge-patch+json")
        self.assertEqual(code, 200, out)
        cs = out["spec"]["template"]["spec"]["containers"]
        self.assertEqual([(c["name"], c["image"]) for c in cs], [("one", "i1"), ("two", "i2b")])
        self.assertEqual(cs[1]["command"], ["sleep", "60"])
        self.assertEqual(out["metadata"]["generation"], 2)

    # --- deletion ------------------------------------------------------------

    def test_finalizer_keeps_object_until_removed(self):
        w = widget("fin")
        w["metadata"]["finalizers"] = ["usp.dev/cleanup"]
        self.create(WIDGETS, w)
        code, out = self.d.request("DELETE", WIDGETS + "/fin")
        self.assertEqual(code, 200)
        code, got = self.d.request("GET", WIDGETS + "/fin")
        self.assertEqual(code, 200)
        self.assertIn("deletionTimestamp", got["metadata"])
        got["metadata"]["finalizers"].append("another")
        code, out = self.d.request("PUT", WIDGETS + "/fin", got)
        self.assertEqual(code, 422)  # no new finalizers once deleting
        code, _ = self.d.request("PATCH", WIDGETS + "/fin", {"metadata": {"finalizers": None}},
                                 ctype="application/merge-patch+json")
        self.assertEqual(code, 200)
        self.assertEqual(self.d.request("GET", WIDGETS + "/fin")[0], 404)

    def test_owner_deletion_garbage_collects_dependents(self):
        owner = self.create(WIDGETS, widget("owner"))
        ref = {"apiVersion": "test.usp.dev/v1", "kind": "Widget", "name": "owner",
               "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}
        self.create(CMS, {"metadata": {"name": "owned", "ownerReferences": [ref]}, "data": {}})
        self.create(CMS, {"metadata": {"name": "kept"}, "data": {}})
        self.assertEqual(self.d.request("DELETE", WIDGETS + "/owner")[0], 200)
        wait_for(lambda: self.d.request("GET", CMS + "/owned")[0] == 404, what="GC of dependent")
        self.assertEqual(self.d.request("GET", CMS + "/kept")[0], 200)

    def test_orphan_propagation_keeps_dependents(self):
        owner = self.create(WIDGETS, widget("orphaner"))
        ref = {"apiVersion": "test.usp.dev/v1", "kind": "Widget", "name": "orphaner",
               "uid": owner["metadata"]["uid"]}
        self.create(CMS, {"metadata": {"name": "orphan", "ownerReferences": [ref]}})
        code, _ = self.d.request("DELETE", WIDGETS + "/orphaner",
                                 {"propagationPolicy": "Orphan"})
        wait_for(lambda: self.d.request("GET", WIDGETS + "/orphaner")[0] == 404, what="owner gone")
        time.sleep(0.5)
        code, cm = self.d.request("GET", CMS + "/orphan")
        self.assertEqual(code, 200)
        self.assertNotIn("ownerReferences", cm["metadata"])

    def test_foreground_deletion_waits_for_dependents(self):
        owner = self.create(WIDGETS, widget("fg"))
        ref = {"apiVersion": "test.usp.dev/v1", "kind": "Widget", "name": "fg",
               "uid": owner["metadata"]["uid"]}
        self.create(CMS, {"metadata": {"name": "fg-dep", "ownerReferences": [ref],
                                       "finalizers": ["hold"]}})
        self.d.request("DELETE", WIDGETS + "/fg", {"propagationPolicy": "Foreground"})
        time.sleep(0.5)
        code, got = self.d.request("GET", WIDGETS + "/fg")
        self.assertEqual(code, 200)
        self.assertIn("foregroundDeletion", got["metadata"]["finalizers"])
        self.d.request("PATCH", CMS + "/fg-dep", {"metadata": {"finalizers": None}},
                       ctype="application/merge-patch+json")
        wait_for(lambda: self.d.request("GET", WIDGETS + "/fg")[0] == 404, what="owner removed")

    # --- selectors ------------------------------------------------------------

    def test_label_and_field_selectors(self):
        for name, labels in [("sel-a", {"tier": "web", "env": "prod"}),
                             ("sel-b", {"tier": "db", "env": "prod"}),
                             ("sel-c", {"tier": "web", "env": "dev", "canary": "1"})]:
            self.create(CMS, {"metadata": {"name": name, "labels": labels}})

        def names(sel):
            from urllib.parse import quote
            code, lst = self.d.request("GET", CMS + "?labelSelector=" + quote(sel))
            self.assertEqual(code, 200, lst)
            return sorted(i["metadata"]["name"] for i in lst["items"] if
                          i["metadata"]["name"].startswith("sel-"))

        self.assertEqual(names("tier=web"), ["sel-a", "sel-c"])
        self.assertEqual(names("tier=web,env!=dev"), ["sel-a"])
        self.assertEqual(names("env in (prod,staging)"), ["sel-a", "sel-b"])
        self.assertEqual(names("tier notin (db),!canary"), ["sel-a"])
        self.assertEqual(names("canary"), ["sel-c"])
        self.assertEqual(names("tier==db"), ["sel-b"])
        code, lst = self.d.request("GET", CMS + "?fieldSelector=metadata.name%3Dsel-b")
        self.assertEqual([i["metadata"]["name"] for i in lst["items"]], ["sel-b"])
        code, lst = self.d.request("GET", "/api/v1/configmaps?fieldSelector="
                                          "metadata.namespace%21%3Ddefault")
        self.assertEqual(lst["items"], [])
        self.assertEqual(self.d.request("GET", CMS + "?labelSelector=a%20in%20b")[0], 400)

    def test_list_pagination_with_continue(self):
        for i in range(5):
            self.create("/api/v1/namespaces/kube-public/configmaps",
                        {"metadata": {"name": "page-%d" % i}})
        seen, cont = [], ""
        while True:
            _, lst = self.d.request("GET", "/api/v1/namespaces/kube-public/configmaps?limit=2"
                                    + ("&continue=" + cont if cont else ""))
            seen += [i["metadata"]["name"] for i in lst["items"]]
            cont = lst["metadata"].get("continue")
            if not cont:
                break
        self.assertEqual(seen, ["page-%d" % i for i in range(5)])

    # --- watch ---------------------------------------------------------------

    def test_watch_from_resource_version_sees_only_later_events(self):
        a = self.create(CMS, {"metadata": {"name": "w-a", "labels": {"w": "1"}}})
        rv = a["metadata"]["resourceVersion"]
        self.d.request("PATCH", CMS + "/w-a", {"data": {"k": "v"}},
                       ctype="application/merge-patch+json")
        self.create(CMS, {"metadata": {"name": "w-b", "labels": {"w": "1"}}})
        self.create(CMS, {"metadata": {"name": "w-other"}})
        s = self.d.watch(CMS + "?watch=true&labelSelector=w%3D1&resourceVersion=" + rv)
        e1, e2 = s.next(), s.next()
        self.assertEqual((e1["type"], e1["object"]["metadata"]["name"]), ("MODIFIED", "w-a"))
        self.assertEqual((e2["type"], e2["object"]["metadata"]["name"]), ("ADDED", "w-b"))
        self.assertEqual(e2["object"]["kind"], "ConfigMap")
        self.d.request("DELETE", CMS + "/w-b")
        e3 = s.next()
        self.assertEqual((e3["type"], e3["object"]["metadata"]["name"]), ("DELETED", "w-b"))
        self.assertGreater(int(e3["object"]["metadata"]["resourceVersion"]),
                           int(e2["object"]["metadata"]["resourceVersion"]))
        s.close()

    def test_watch_without_resource_version_starts_with_current_state(self):
        self.create(CMS, {"metadata": {"name": "init-a", "labels": {"init": "y"}}})
        s = self.d.watch(CMS + "?watch=1&labelSelector=init")
        e = s.next()
        self.assertEqual((e["type"], e["object"]["metadata"]["name"]), ("ADDED", "init-a"))
        s.close()

    def test_watch_label_change_turns_into_added_and_deleted(self):
        self.create(CMS, {"metadata": {"name": "flip", "labels": {"flip": "no"}}})
        _, lst = self.d.request("GET", CMS)
        s = self.d.watch(CMS + "?watch=1&labelSelector=flip%3Dyes&resourceVersion="
                         + lst["metadata"]["resourceVersion"])
        self.d.request("PATCH", CMS + "/flip", {"metadata": {"labels": {"flip": "yes"}}},
                       ctype="application/merge-patch+json")
        self.assertEqual(s.next()["type"], "ADDED")
        self.d.request("PATCH", CMS + "/flip", {"metadata": {"labels": {"flip": "no"}}},
                       ctype="application/merge-patch+json")
        self.assertEqual(s.next()["type"], "DELETED")
        s.close()

    def test_watch_from_compacted_resource_version_is_410(self):
        a = self.create(CMS, {"metadata": {"name": "old-rv"}})
        self.d.request("PATCH", CMS + "/old-rv", {"data": {"x": "1"}},
                       ctype="application/merge-patch+json")
        self.d.request("POST", "/_double/compact", {})
        s = self.d.watch(CMS + "?watch=1&resourceVersion=" + a["metadata"]["resourceVersion"])
        e = s.next()
        self.assertEqual(e["type"], "ERROR")
        self.assertEqual((e["object"]["kind"], e["object"]["code"], e["object"]["reason"]),
                         ("Status", 410, "Expired"))
        self.assertIsNone(s.next())  # stream ends after the error
        s.close()
        _, lst = self.d.request("GET", CMS)  # a relist gives a watchable resourceVersion
        s = self.d.watch(CMS + "?watch=1&timeoutSeconds=1&resourceVersion="
                         + lst["metadata"]["resourceVersion"])
        self.assertIsNone(s.next())  # no error; ends at the timeout
        s.close()

    def test_injected_watch_gone(self):
        _, lst = self.d.request("GET", CMS)
        self.d.control({"watch_gone_next": 1})
        s = self.d.watch(CMS + "?watch=1&resourceVersion=" + lst["metadata"]["resourceVersion"])
        e = s.next()
        self.assertEqual((e["type"], e["object"]["code"]), ("ERROR", 410))
        s.close()
        s = self.d.watch(CMS + "?watch=1&timeoutSeconds=1&resourceVersion="
                         + lst["metadata"]["resourceVersion"])
        self.assertIsNone(s.next())  # only the next one was injected
        s.close()

    def test_bookmarks_carry_current_resource_version(self):
        _, lst = self.d.request("GET", CMS)
        s = self.d.watch(CMS + "?watch=1&allowWatchBookmarks=true&resourceVersion="
                         + lst["metadata"]["resourceVersion"])
        self.create(WIDGETS, widget("bm-elsewhere"))  # bumps the global resourceVersion
        e = s.next()
        self.assertEqual(e["type"], "BOOKMARK")
        self.assertEqual(e["object"]["kind"], "ConfigMap")
        self.assertGreater(int(e["object"]["metadata"]["resourceVersion"]),
                           int(lst["metadata"]["resourceVersion"]))
        s.close()

    def test_watch_timeout_seconds_ends_stream(self):
        t0 = time.time()
        s = self.d.watch(CMS + "?watch=1&timeoutSeconds=1&labelSelector=none%3Dx")
        self.assertIsNone(s.next())  # the stream ended, before the 10 s socket timeout
        self.assertLess(time.time() - t0, 9)
        s.close()

    def test_drop_and_expire_open_watches(self):
        s = self.d.watch(CMS + "?watch=1&labelSelector=none%3Dx")
        wait_for(lambda: self.d.request("GET", "/_double/state")[1]["watches"], what="watch")
        out = self.d.control({"drop_watches": True})
        self.assertGreaterEqual(out["dropped_watches"], 1)
        self.assertIsNone(s.next())  # silently closed: no event, just the end
        s.close()
        s = self.d.watch(CMS + "?watch=1&labelSelector=none%3Dx")
        wait_for(lambda: self.d.request("GET", "/_double/state")[1]["watches"], what="watch")
        self.d.control({"expire_watches": True})
        e = s.next()
        self.assertEqual((e["type"], e["object"]["code"]), ("ERROR", 410))
        s.close()

    # --- faults ------------------------------------------------------------------

    def test_fail_next_and_conflict_next(self):
        w = self.create(WIDGETS, widget("flaky"))
        self.d.control({"fail_next": {"verb": "PUT", "code": 500, "count": 2,
                                      "resource": "widgets"}})
        for _ in range(2):
            code, out = self.d.request("PUT", WIDGETS + "/flaky", w)
            self.assertEqual((code, out["reason"]), (500, "InternalError"))
        self.assertEqual(self.d.request("PUT", WIDGETS + "/flaky", w)[0], 200)
        self.d.control({"conflict_next": {"verb": "patch", "count": 1}})
        code, out = self.d.request("PATCH", WIDGETS + "/flaky", {"spec": {"size": 8}},
                                   ctype="application/merge-patch+json")
        self.assertEqual((code, out["reason"]), (409, "Conflict"))
        self.assertEqual(self.d.request("GET", WIDGETS + "/flaky")[1]["spec"]["size"], 3)

    def test_fail_after_commit_delay_and_request_log(self):
        since = self.d.request("GET", "/_double/requests")[1]["next"]
        # "after": the create is stored, the client is told 500; its retry meets AlreadyExists.
        self.d.control({"fail_next": {"verb": "create", "code": 500, "count": 1,
                                      "resource": "widgets", "after": True}})
        code, out = self.d.request("POST", WIDGETS, widget("committed"))
        self.assertEqual((code, out["reason"]), (500, "InternalError"))
        self.assertEqual(self.d.request("GET", WIDGETS + "/committed")[0], 200)
        code, out = self.d.request("POST", WIDGETS, widget("committed"))
        self.assertEqual((code, out["reason"]), (409, "AlreadyExists"))
        # An "after" fault on an update that fails anyway leaves the real error.
        self.d.control({"fail_next": {"verb": "create", "code": 500, "resource": "widgets",
                                      "after": True}})
        self.assertEqual(self.d.request("POST", WIDGETS, widget("committed"))[1]["reason"],
                         "AlreadyExists")
        self.d.control({"clear": True})
        # delay_next: served, but only after the delay; then no more delay.
        self.d.control({"delay_next": {"verb": "get", "ms": 300, "count": 1, "resource": "widgets"}})
        t0 = time.time()
        self.assertEqual(self.d.request("GET", WIDGETS + "/committed")[0], 200)
        self.assertGreaterEqual(time.time() - t0, 0.3)
        self.assertEqual(self.d.request("GET", "/_double/faults")[1]["delay_next"], [])
        log = self.d.request("GET", "/_double/requests?since=%d" % since)[1]["requests"]
        widgets = [(e["verb"], e["name"], e["fault"]) for e in log if e["resource"] == "widgets"]
        self.assertEqual(widgets, [("create", "committed", "500 after"), ("get", "committed", ""),
                                   ("create", "committed", ""), ("create", "committed", "500 after"),
                                   ("get", "committed", "delay 300ms")])

    # --- server-side printing ---------------------------------------------------------

    def test_table_uses_printer_columns(self):
        w = self.create(WIDGETS, widget("tbl", type="left_join"))
        w["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
        self.d.request("PUT", WIDGETS + "/tbl/status", w)
        code, t = self.d.request("GET", WIDGETS + "/tbl",
                                 accept="application/json;as=Table;v=v1;g=meta.k8s.io")
        self.assertEqual((code, t["kind"], t["apiVersion"]), (200, "Table", "meta.k8s.io/v1"))
        self.assertEqual([c["name"] for c in t["columnDefinitions"]],
                         ["Name", "Type", "Ready", "Age"])
        self.assertEqual(t["rows"][0]["cells"][:3], ["tbl", "left_join", "True"])
        self.assertRegex(t["rows"][0]["cells"][3], r"^\d+s$")
        self.assertEqual(t["rows"][0]["object"]["kind"], "PartialObjectMetadata")


class CrashLoopBackOffTest(unittest.TestCase):
    def test_a_deployment_gets_a_bounded_burst_of_pods_per_window(self):
        import deployments
        c = object.__new__(deployments.DeploymentController)
        c.recent_creates = {}
        allowed = sum(1 for _ in range(50) if c._may_create("uid-1", 2))
        self.assertEqual(allowed, 2 + deployments.CRASH_BURST)
        # Another Deployment has its own budget.
        self.assertTrue(c._may_create("uid-2", 1))
        # Once the window has passed, pods may be created again.
        c.recent_creates["uid-1"] = [t - deployments.CRASH_WINDOW_S - 1
                                     for t in c.recent_creates["uid-1"]]
        self.assertTrue(c._may_create("uid-1", 2))


if __name__ == "__main__":
    unittest.main()
