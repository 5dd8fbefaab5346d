"""trouper.actors: processes, mailboxes, links, monitors, names, timers and GenServer.

Start a node with :func:`run` (from plain Python) or :func:`open_node` (inside trio). See
docs/actors.md for the guide and otp-semantics for the rules these functions follow.
"""

from ._api import cancel_timer as cancel_timer
from ._api import demonitor as demonitor
from ._api import exit as exit
from ._api import has_exited as has_exited
from ._api import is_alive as is_alive
from ._api import link as link
from ._api import monitor as monitor
from ._api import processes as processes
from ._api import read_timer as read_timer
from ._api import register as register
from ._api import registered as registered
from ._api import self as self
from ._api import send as send
from ._api import send_after as send_after
from ._api import spawn as spawn
from ._api import spawn_link as spawn_link
from ._api import spawn_monitor as spawn_monitor
from ._api import trap_exit as trap_exit
from ._api import unlink as unlink
from ._api import unregister as unregister
from ._api import whereis as whereis
from ._behaviour import Actor as Actor
from ._genserver import DEFAULT_CALL_TIMEOUT as DEFAULT_CALL_TIMEOUT
from ._genserver import NOREPLY as NOREPLY
from ._genserver import From as From
from ._genserver import GenServer as GenServer
from ._genserver import Reply as Reply
from ._genserver import call as call
from ._genserver import cast as cast
from ._genserver import reply as reply
from ._genserver import send_request as send_request
from ._genserver import stop as stop
from ._info import NodeStatistics as NodeStatistics
from ._info import ProcessInfo as ProcessInfo
from ._info import process_info as process_info
from ._info import statistics as statistics
from ._receive import receive as receive
from ._receive import receive_all_nowait as receive_all_nowait
from ._receive import wake_on_message as wake_on_message
from ._registry import Registry as Registry
from ._runtime import open_node as open_node
from ._runtime import run as run
from ._types import IGNORE as IGNORE
from ._types import KILL as KILL
from ._types import KILLED as KILLED
from ._types import NOPROC as NOPROC
from ._types import NORMAL as NORMAL
from ._types import SHUTDOWN as SHUTDOWN
from ._types import AlreadyRegisteredError as AlreadyRegisteredError
from ._types import CallError as CallError
from ._types import CallTimeoutError as CallTimeoutError
from ._types import Down as Down
from ._types import Exit as Exit
from ._types import InitError as InitError
from ._types import NameNotRegisteredError as NameNotRegisteredError
from ._types import NoNodeError as NoNodeError
from ._types import NoProcError as NoProcError
from ._types import NotInProcessError as NotInProcessError
from ._types import Pid as Pid
from ._types import ProcessExit as ProcessExit
from ._types import ReceiveTimeoutError as ReceiveTimeoutError
from ._types import Ref as Ref
from ._types import Stop as Stop
from ._types import TrouperError as TrouperError
from ._types import is_clean_exit as is_clean_exit
from ._types import make_ref as make_ref

__all__ = [
    "Actor",
    "AlreadyRegisteredError",
    "CallError",
    "CallTimeoutError",
    "DEFAULT_CALL_TIMEOUT",
    "Down",
    "Exit",
    "From",
    "GenServer",
    "IGNORE",
    "InitError",
    "KILL",
    "KILLED",
    "NOPROC",
    "NOREPLY",
    "NORMAL",
    "NameNotRegisteredError",
    "NoNodeError",
    "NoProcError",
    "NodeStatistics",
    "NotInProcessError",
    "Pid",
    "ProcessExit",
    "ProcessInfo",
    "ReceiveTimeoutError",
    "Ref",
    "Registry",
    "Reply",
    "SHUTDOWN",
    "Stop",
    "TrouperError",
    "call",
    "cancel_timer",
    "cast",
    "demonitor",
    "exit",
    "has_exited",
    "is_alive",
    "is_clean_exit",
    "link",
    "make_ref",
    "monitor",
    "open_node",
    "process_info",
    "processes",
    "read_timer",
    "receive",
    "receive_all_nowait",
    "register",
    "registered",
    "reply",
    "run",
    "self",
    "send",
    "send_after",
    "send_request",
    "spawn",
    "spawn_link",
    "spawn_monitor",
    "statistics",
    "stop",
    "trap_exit",
    "unlink",
    "unregister",
    "wake_on_message",
    "whereis",
]
