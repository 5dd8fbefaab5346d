"""trouper.supervision: supervisors, child specs, dynamic supervisors, tasks, applications.

OTP's supervisor semantics (otp-semantics.md A7-A11) are the specification; docs/supervision.md
says where trouper differs on purpose.
"""

from ._application import Application as Application
from ._application import ApplicationExit as ApplicationExit
from ._common import RESTARTING as RESTARTING
from ._common import ChildCounts as ChildCounts
from ._common import ChildInfo as ChildInfo
from ._common import SupervisorError as SupervisorError
from ._common import count_children as count_children
from ._common import delete_child as delete_child
from ._common import get_childspec as get_childspec
from ._common import restart_child as restart_child
from ._common import send_start_child as send_start_child
from ._common import start_child as start_child
from ._common import start_child_result as start_child_result
from ._common import terminate_child as terminate_child
from ._common import which_children as which_children
from ._dynamic import DynamicSupervisor as DynamicSupervisor
from ._intensity import DEFAULT_INTENSITY as DEFAULT_INTENSITY
from ._intensity import DEFAULT_PERIOD as DEFAULT_PERIOD
from ._intensity import RestartWindow as RestartWindow
from ._intensity import add_restart as add_restart
from ._spec import Backoff as Backoff
from ._spec import ChildSpec as ChildSpec
from ._spec import ChildSpecError as ChildSpecError
from ._spec import child_spec as child_spec
from ._supervisor import Supervisor as Supervisor
from ._supervisor import SupervisorFlags as SupervisorFlags
from ._task import Task as Task
from ._task import TaskError as TaskError
from ._task import TaskSupervisor as TaskSupervisor
from ._task import TaskTimeoutError as TaskTimeoutError
from ._tree import format_tree as format_tree
from ._tree import tree as tree

__all__ = [
    "Application",
    "ApplicationExit",
    "Task",
    "TaskError",
    "TaskSupervisor",
    "TaskTimeoutError",
    "format_tree",
    "tree",
    "DEFAULT_INTENSITY",
    "DEFAULT_PERIOD",
    "RESTARTING",
    "Backoff",
    "ChildCounts",
    "ChildInfo",
    "ChildSpec",
    "ChildSpecError",
    "RestartWindow",
    "DynamicSupervisor",
    "Supervisor",
    "SupervisorError",
    "SupervisorFlags",
    "add_restart",
    "child_spec",
    "count_children",
    "delete_child",
    "get_childspec",
    "restart_child",
    "send_start_child",
    "start_child",
    "start_child_result",
    "terminate_child",
    "which_children",
]
