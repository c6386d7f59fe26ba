<?php

use Illuminate\Support\Facades\Route;

// DreamFactory answers GET /status without a login; its JSON carries the platform version.
Route::get('/status', function () {
    return response()->json([
        'platform' => [
            'version' => config('app.version'),
            'db_driver' => config('database.default'),
        ],
    ]);
});

Route::get('/', function () {
    return response('<!doctype html><title>DreamFactory</title><h1>DreamFactory '
        .e(config('app.version')).'</h1>', 200)->header('Content-Type', 'text/html');
});
