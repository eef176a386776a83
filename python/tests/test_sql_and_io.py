"""`dc.sql` over views registered with `registerView`, string columns in and out, `print()`
and `write()` nodes, against pandas and DuckDB on the same data."""

import os

import numpy as np
import pandas as pd
import pytest

from daphne import DaphneError
from daphne.context.daphne_context import DaphneContext

RNG = np.random.default_rng(2026)


@pytest.fixture(scope="module")
def dc():
    return DaphneContext()


def employees(n=200):
    return pd.DataFrame({
        "id": np.arange(n, dtype=np.int64),
        "dept": RNG.integers(0, 5, size=n),
        "salary": RNG.uniform(1000.0, 9000.0, size=n).round(2),
        "name": pd.Series([f"emp{i:03d}" for i in RNG.permutation(n)], dtype=object),
    })


def departments():
    return pd.DataFrame({"dno": np.arange(5, dtype=np.int64),
                         "dname": pd.Series(["sales", "it", "hr", "ops", "legal"], dtype=object)})


def test_string_columns_round_trip_as_object_columns(dc):
    df = employees(50)
    out = dc.from_pandas(df).compute()
    assert out["name"].dtype == object
    pd.testing.assert_frame_equal(out, df)
    # pandas' string dtype goes in as well; it comes back as an object column.
    s = pd.DataFrame({"a": pd.array(["x", "y", "zz"], dtype="string"), "b": [1.0, 2.0, 3.0]})
    out = dc.from_pandas(s).compute()
    assert out["a"].dtype == object and list(out["a"]) == ["x", "y", "zz"]
    with pytest.raises(TypeError, match="missing values"):
        dc.from_pandas(pd.DataFrame({"a": ["x", None]}, dtype=object)).compute()


def test_sql_against_duckdb(dc):
    duckdb = pytest.importorskip("duckdb")
    emp, dep = employees(), departments()
    dc.from_pandas(emp).registerView("emp")
    dc.from_pandas(dep).registerView("dep")
    queries = [
        ("SELECT emp.id, emp.salary FROM emp WHERE emp.salary > 5000.0 AND emp.dept = 2",
         "SELECT emp.id, emp.salary FROM emp WHERE emp.salary > 5000.0 AND emp.dept = 2 ORDER BY emp.id"),
        ("SELECT emp.dept, sum(emp.salary), count(*) FROM emp GROUP BY emp.dept",
         "SELECT emp.dept, sum(emp.salary), count(*) FROM emp GROUP BY emp.dept ORDER BY emp.dept"),
        ("SELECT emp.name, dep.dname FROM emp INNER JOIN dep ON emp.dept = dep.dno WHERE emp.salary < 2000.0 "
         "ORDER BY emp.name",
         "SELECT emp.name, dep.dname FROM emp INNER JOIN dep ON emp.dept = dep.dno WHERE emp.salary < 2000.0 "
         "ORDER BY emp.name"),
        ("SELECT emp.name FROM emp WHERE emp.name LIKE 'emp1%' ORDER BY emp.name DESC LIMIT 5",
         "SELECT emp.name FROM emp WHERE emp.name LIKE 'emp1%' ORDER BY emp.name DESC LIMIT 5"),
    ]
    con = duckdb.connect()
    con.register("emp", emp)
    con.register("dep", dep)
    for ours, theirs in queries:
        got = dc.sql(ours).compute()
        want = con.execute(theirs).df()
        assert got.shape == want.shape, (ours, got, want)
        for g, w in zip(got.columns, want.columns):
            if want[w].dtype == object or pd.api.types.is_string_dtype(want[w].dtype):
                assert got[g].dtype == object, (ours, g)
                assert list(got[g]) == list(want[w]), (ours, g)
            else:
                np.testing.assert_allclose(got[g].to_numpy(dtype=float), want[w].to_numpy(dtype=float),
                                           rtol=1e-12, err_msg=ours)


def test_sql_against_pandas_and_a_view_registered_again(dc):
    emp = employees(100)
    dc.from_pandas(emp).registerView("staff")
    got = dc.sql("SELECT staff.dept, max(staff.salary) FROM staff GROUP BY staff.dept").compute()
    want = emp.groupby("dept")["salary"].max()
    np.testing.assert_array_equal(got.iloc[:, 0].to_numpy(), want.index.to_numpy())
    np.testing.assert_array_equal(got.iloc[:, 1].to_numpy(), want.to_numpy())
    assert list(got.columns) == ["staff.dept", "max(staff.salary)"]
    # A query reads the view as registered when the query was made.
    q1 = dc.sql("SELECT staff.id FROM staff")
    dc.from_pandas(emp[emp.dept == 0]).registerView("staff")
    q2 = dc.sql("SELECT staff.id FROM staff")
    assert len(q1.compute()) == 100 and len(q2.compute()) == (emp.dept == 0).sum()
    # A query over a frame computed lazily, and its result used further.
    f = dc.from_pandas(emp)[:, ["id", "salary"][1]]
    f.registerView("pay")
    total = dc.sql("SELECT sum(pay.salary) FROM pay").toMatrix().sum()
    assert total.compute() == pytest.approx(emp.salary.sum(), rel=1e-12)


def test_sql_errors_raise_daphne_error(dc):
    dc.from_pandas(employees(10)).registerView("e10")
    with pytest.raises(DaphneError) as e:
        dc.sql("SELECT e10.nosuch FROM e10").compute()
    assert "nosuch" in e.value.args[0] and e.value.args[1] == 2


def test_inner_join_method_against_pandas(dc):
    emp, dep = employees(30), departments()
    got = dc.from_pandas(emp).innerJoin(dc.from_pandas(dep), "dept", "dno").compute()
    want = emp.merge(dep, left_on="dept", right_on="dno", how="inner", sort=False)
    assert len(got) == len(want)
    key = lambda d: sorted(zip(d["id"], d["dname"]))
    assert key(got) == key(want)


def test_print_nodes_print_daphnes_format(dc, capfd):
    assert dc.fill(1.5, 2, 2).print().compute() is None
    (dc.fill(2.0, 1, 1).sum() + 1).print().compute()
    dc.from_pandas(pd.DataFrame({"a": [1, 2], "s": pd.Series(["x", "y"], dtype=object)})).print().compute()
    out = capfd.readouterr().out
    assert out == ("DenseMatrix(2x2, double)\n1.5 1.5\n1.5 1.5\n"
                   "3\n"
                   "Frame(2x2, [a:int64_t, s:std::string])\n1 x\n2 y\n"), out


def test_write_nodes_write_files_that_read_back(dc, tmp_path):
    a = RNG.uniform(size=(6, 3))
    path = str(tmp_path / "m.csv")
    assert dc.from_numpy(a).write(path).compute() is None
    assert os.path.exists(path) and os.path.exists(path + ".meta")
    np.testing.assert_array_equal(dc.readMatrix(path).compute(), a)
    df = employees(8)
    fpath = str(tmp_path / "f.csv")
    dc.from_pandas(df).write(fpath).compute()
    back = dc.readFrame(fpath).compute()
    assert list(back["name"]) == list(df["name"]) and back["name"].dtype == object
    np.testing.assert_array_equal(back["salary"].to_numpy(), df["salary"].to_numpy())
