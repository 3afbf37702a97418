"""Build the optional compiled loops of the ``fast`` simulator (issue 17): the neuron update
(itnet_neuro/sim/kernels/_neuron.pyx) and the ops on spike frames that library kernels run slowly at
ItNet sizes (_ops.pyx); both headers include _clones.h.

Everything else is declared in pyproject.toml. The extensions are optional: without a C compiler the
install still succeeds and the ``fast`` simulator runs numpy's neuron update (with the same spikes;
results.json ``simulator.neuron_update`` says which one a run used) and numpy's or TensorFlow's ops.
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pyproject.toml's build requirements install Cython; a bare setup.py call may lack it
    cythonize = None

# -ffp-contract=off: a fused multiply-add would round once where numpy rounds twice, and the compiled
# update must give numpy's spikes bit for bit
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math"]
CLONES = "itnet_neuro/sim/kernels/_clones.h"
neuron = Extension("itnet_neuro.sim.kernels._neuron", ["itnet_neuro/sim/kernels/_neuron.pyx"],
                   extra_compile_args=FLAGS, depends=["itnet_neuro/sim/kernels/_neuron_kernel.h", CLONES],
                   optional=True)
ops = Extension("itnet_neuro.sim.kernels._ops", ["itnet_neuro/sim/kernels/_ops.pyx"],
                extra_compile_args=FLAGS, depends=["itnet_neuro/sim/kernels/_ops_kernel.h", CLONES], optional=True)
setup(ext_modules=cythonize([neuron, ops], quiet=True) if cythonize else [])
