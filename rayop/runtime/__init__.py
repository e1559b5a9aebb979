"""The library: everything a controller needs, for any kind, with nothing Ray in it.

Read it in the order data flows::

    client       the ClusterClient contract every backend implements; Kind, Obj, WatchEvent
    errors       the exception tree, and the Kubernetes Status each error is
    clock        real and virtual time (every timer in rayop goes through a Clock)
    selectors    label and field selectors
    patch        JSON merge patch and JSON patch, applied as the API server applies them
    informer     list + watch of one kind into a store, with backoff and resync
    store        the indexed local copy of one kind
    sharedinformers  one informer per kind and scope, shared by every controller
    cache        reads from the informers' stores; writes tracked until the cache has seen them
    handlers     events -> requests: enqueue_self/owner/mapped, predicates
    queue        the rate-limited, deduplicating work queue;  ratelimit: its limiters
    reconcile    the Reconciler protocol, Request, Result;  reconcile_events: failures as Events
    controller   workers that take requests from a queue and call a reconciler
    manager      owns informers, cache, controllers, events, metrics and the leader lease
    leader       Lease-based leader election;  events: the EventRecorder
    metrics      controller-runtime's metric names;  endpoints: /metrics, /healthz, /readyz
    logs         structured logging set-up

and the reconciler kit, which every reconciler (rayop's three and yours) ends with::

    models       WireModel: typed objects on the wire, unknown fields kept
    conditions   typed conditions with Kubernetes' rules
    status       StatusWriter: minimal merge patch, resourceVersion precondition, invalid specs
    owners       controller_ref and friends;  finalizers: Finalizer (apply / cleanup)

The public names users need are re-exported by :mod:`rayop`; the rest are imported from here.
"""

__all__: list[str] = []
