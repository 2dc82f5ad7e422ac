/* square(n) -> n * n, in C. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static PyObject *square(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return PyLong_FromLong(n * n);
}

static PyMethodDef methods[] = {
    {"square", square, METH_O, "n * n"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tiny", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tiny(void) { return PyModule_Create(&module); }
