"""Owner references: who controls an object, as Kubernetes' garbage collector reads them.

An object a reconciler creates carries ``controller_ref(owner)``: deleting the owner deletes it
(background by default; foreground waits for it, ``blockOwnerDeletion``), and
:func:`~rayop.runtime.handlers.enqueue_owner` maps its events back to the owner.
"""

from __future__ import annotations

from rayop.runtime.client import Obj

__all__ = ["controlled_by", "controller_of", "controller_ref", "owner_reference"]


def owner_reference(owner: Obj, *, controller: bool = False,
                    block_owner_deletion: bool = False) -> Obj:
    """An ``ownerReference`` naming ``owner`` (which must carry apiVersion, kind, name and uid)."""
    meta = owner["metadata"]
    ref: Obj = {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                "name": meta["name"], "uid": meta["uid"]}
    if controller:
        ref["controller"] = True
    if block_owner_deletion:
        ref["blockOwnerDeletion"] = True
    return ref


def controller_ref(owner: Obj) -> Obj:
    """The reference marking ``owner`` as the controller, blocking its foreground deletion.

    What controller-runtime's ``SetControllerReference`` writes; an object has at most one.
    """
    return owner_reference(owner, controller=True, block_owner_deletion=True)


def controller_of(obj: Obj) -> Obj | None:
    """The owner reference of ``obj`` that says ``controller: true``, or None."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def controlled_by(obj: Obj, uid: str) -> bool:
    """True when the object whose uid is ``uid`` is ``obj``'s controller."""
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid
