"""gym.make / gym.make_vec keyword arguments: wrong names and wrong types are ConfigErrors that name them."""

import re

import gymnasium as gym
import pytest

import recgym
from recgym.errors import ConfigError
from tests.conftest import ENV_ID, env_test_kwargs


def test_a_wrong_type_names_the_argument_the_value_and_the_type() -> None:
    with pytest.raises(ConfigError) as error:
        gym.make(ENV_ID, num_topics="ten")
    message = str(error.value)
    assert "num_topics" in message and "'ten'" in message and "must be int" in message
    assert "e.g. num_topics=20" in message  # the fix, with the default as an example


def test_a_bool_is_not_an_int_and_an_int_is_a_float() -> None:
    with pytest.raises(ConfigError, match=r"num_items must be int; got True \(bool\)"):
        gym.make(ENV_ID, num_items=True)
    with pytest.raises(ConfigError, match="initial_budget must be float"):
        gym.make(ENV_ID, num_items=300, initial_budget="lots")
    with pytest.raises(ConfigError, match=r"slate_size must be int; got 2\.0"):
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", num_items=300, slate_size=2.0)
    env = gym.make(ENV_ID, num_items=300, initial_budget=150, step_scale=50)  # ints where floats are wanted
    assert env.unwrapped.vector_env.simulator.params.initial_budget == 150
    with pytest.raises(ConfigError, match=re.escape("choice_model must be 'proportional' | 'logit'; got 'softmax'")):
        gym.make(ENV_ID, num_items=300, choice_model="softmax")


def test_an_unknown_name_gets_a_did_you_mean_and_the_valid_names() -> None:
    with pytest.raises(ConfigError) as error:
        gym.make(ENV_ID, num_items=300, num_topcs=5)
    message = str(error.value)
    assert message.startswith("Unknown argument num_topcs=5 for recgym/InterestEvolution-v0.")
    assert "Did you mean num_topics" in message
    assert "initial_budget" in message and "slate_size" in message  # parameters and env arguments listed
    with pytest.raises(ConfigError, match="Did you mean no_click_mass"):
        gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", no_clik_mass=1.0)


@pytest.mark.parametrize("env_id", recgym.registered_ids())
def test_every_registered_env_checks_names_and_types_before_building(env_id: str) -> None:
    kwargs = env_test_kwargs(env_id, num_items=300)
    with pytest.raises(ConfigError, match="Did you mean num_candidates"):
        gym.make(env_id, **kwargs, num_candidats=5)
    with pytest.raises(ConfigError, match=r"num_items must be int.*got 'many' \(str\)"):
        gym.make(env_id, **{**kwargs, "num_items": "many"})
    with pytest.raises(ConfigError, match="history_length must be int"):
        gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs, history_length="10")


def test_family_arguments_are_checked_against_the_base_simulator() -> None:
    family = "recgym/Sim2RecFamily-v0"
    with pytest.raises(ConfigError, match="Did you mean choc_mean"):
        gym.make(family, num_items=300, choc_maen=5.0)
    with pytest.raises(ConfigError, match="num_topics must be int"):
        gym.make(family, num_items=300, num_topics="ten")
    with pytest.raises(ConfigError, match="Unknown base simulator"):  # the factory's own message stays
        gym.make(family, base="no_such_simulator")
