"""Build the optional compiled neuron update (itnet_neuro/sim/kernels/_neuron.pyx; issue 17).

Everything else is declared in pyproject.toml. The extension is optional: without a C compiler the
install still succeeds and the ``fast`` simulator runs its numpy neuron update, with the same spikes
(itnet_neuro.sim.kernels.compiled says which one a run used).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # pyproject.toml's build requirements install Cython; a bare setup.py call may lack it
    cythonize = None

# -ffp-contract=off: a fused multiply-add would round once where numpy rounds twice, and the compiled
# update must give numpy's spikes bit for bit
FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-fno-trapping-math"]
neuron = Extension("itnet_neuro.sim.kernels._neuron", ["itnet_neuro/sim/kernels/_neuron.pyx"],
                   extra_compile_args=FLAGS, depends=["itnet_neuro/sim/kernels/_neuron_kernel.h"], optional=True)
setup(ext_modules=cythonize([neuron], quiet=True) if cythonize else [])
