<?php

use Monolog\Handler\NullHandler;

return [

    'default' => env('LOG_CHANNEL', 'single'),

    'channels' => [
        'stack' => [
            'driver' => 'stack',
            'channels' => ['single'],
            'ignore_exceptions' => false,
        ],
        'single' => [
            'driver' => 'single',
            'path' => storage_path('logs/dreamfactory.log'),
            'level' => env('LOG_LEVEL', 'warning'),
        ],
        'daily' => [
            'driver' => 'daily',
            'path' => storage_path('logs/dreamfactory.log'),
            'level' => env('LOG_LEVEL', 'warning'),
            'days' => 14,
        ],
        'stderr' => [
            'driver' => 'monolog',
            'handler' => Monolog\Handler\StreamHandler::class,
            'with' => ['stream' => 'php://stderr'],
            'level' => env('LOG_LEVEL', 'warning'),
        ],
        'null' => [
            'driver' => 'monolog',
            'handler' => NullHandler::class,
        ],
        'emergency' => [
            'path' => storage_path('logs/laravel.log'),
        ],
    ],

];
