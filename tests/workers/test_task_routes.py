from workers.app import app


def test_each_task_goes_to_its_queue():
    app.loader.import_default_modules()
    route = app.amqp.router.route
    assert route({}, "workers.training.train_model_run")["queue"].name == "gpu_train"
    assert route({}, "workers.tokenization.train_tokenizer_run")["queue"].name == "cpu"
    assert route({}, "workers.corpora.validate_corpus")["queue"].name == "cpu"
    assert route({}, "workers.anatomy.inspect_text")["queue"].name == "gpu_infer"
    assert route({}, "workers.registry.import_model_upload")["queue"].name == "cpu"
