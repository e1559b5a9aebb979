"""rayop's operator: the table of controllers, wiring it into a manager, its install manifests.

``controllers`` holds :data:`~rayop.operator.controllers.CONTROLLER_TABLE` and
:func:`~rayop.operator.controllers.add_ray_controllers`; ``rbac`` the rules as data;
``manifests`` what ``rayop manifests`` prints (RBAC from the table, Deployment, Service).
"""

from rayop.operator.controllers import (
    CONTROLLER_TABLE,
    CONTROLLERS,
    ControllerSpec,
    OperatorOptions,
    add_ray_controllers,
)

__all__ = ["CONTROLLERS", "CONTROLLER_TABLE", "ControllerSpec", "OperatorOptions",
           "add_ray_controllers"]
