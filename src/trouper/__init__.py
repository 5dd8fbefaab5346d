"""trouper: Erlang/OTP-style actors for Python on Trio.

The layers are subpackages (``trouper.actors`` first); the most used names of the actor
runtime are re-exported here, so ``trouper.spawn``, ``trouper.GenServer`` and ``trouper.run``
read the way OTP users expect.
"""

from .actors import *  # noqa: F403
from .actors import __all__ as _actors_all

__version__ = "0.1.0"
__all__ = [*_actors_all, "__version__"]
